-- xfail: REINDEX SCHEMA / DATABASE has no relation, so locks.py reports nothing though each table is locked in turn
REINDEX SCHEMA public;
