"""What a prompt expands to before anything is sent: templates and wildcards (``templates``),
styles (``styles``), counted and priced batches (``plans``), grid axes (``grid_plan``), the
prompt matrix (``matrix``), and a batch's progress (``progress``).
"""
