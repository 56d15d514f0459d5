-- When the training process last said it is alive (epoch seconds). A process whose pid and start time still agree
-- but that stopped beating (frozen, SIGSTOPped, hung in the kernel) is not running the job any more.
ALTER TABLE jobs ADD COLUMN heartbeat REAL;
