"""What a prompt expands to before anything is sent: templates (``templates``), counted without
expanding (``counting``), their grammar quirks (``syntax``), wildcard folders
(``wildcard_files``), the one reader of users' text files (``user_files``), styles
(``styles``), counted and priced batches (``plans``), grid axes (``grid_plan``), the prompt
matrix (``matrix``), and a batch's progress (``progress``).
"""
