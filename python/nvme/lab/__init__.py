"""The test lab (docs/lab.md): the test host records every pytest session into a
local spool and uploads it (docs/lab-format.md) to the lab server."""
