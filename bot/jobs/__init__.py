"""The clock: jobs on PTB's JobQueue that claim due work from the database."""
