// Whether the client of a request is still there. cpp-httplib 0.11 hands a handler neither its socket nor a
// way to ask (later versions have Request::is_connection_closed), so the socket is found among this
// process's open sockets by the connection's two ends (the request's remote address and port, its local
// port). A sync request waiting for its job polls it: a client that went away cancels its job (probe13 L9).
#pragma once

#include <httplib.h>

namespace i2i::server {

// The socket the request came on, or -1 when it cannot be found (then the client is taken to be there).
int request_socket(const httplib::Request& req);
// Whether the peer of `fd` has closed the connection (end of stream) or it broke. Reads nothing: data the
// client sent ahead (a pipelined request) stays for httplib.
bool client_gone(int fd);

}  // namespace i2i::server
