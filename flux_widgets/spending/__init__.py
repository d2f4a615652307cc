"""Money: price tables (``prices``), the spending cap (``budget``), a client's ledger of what it
reserved and spent (``ledger``), and usage reports (``usage``).
"""
