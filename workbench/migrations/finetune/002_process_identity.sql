-- Which process a running job is: its pid is not enough (pids are reused, after a reboot above all). The boot id
-- and the process start time (clock ticks since boot, /proc/<pid>/stat field 22) together name one process.
ALTER TABLE jobs ADD COLUMN pid_start TEXT;
