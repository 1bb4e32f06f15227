"""JSON-RPC 2.0 error codes of the monitor, and the exception a method raises
to answer with one."""

# JSON-RPC 2.0 error codes
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = \
    -32700, -32600, -32601, -32602, -32603
BUSY = -32000                    # server-defined: the queue is being re-created, ask again


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message
