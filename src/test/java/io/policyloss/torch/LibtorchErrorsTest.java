package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** libtorch's messages as shown: Gloo's source file and c10::Error's C++ frames left out, the rest as it is. */
class LibtorchErrorsTest {
    @Test
    void firstLineWithoutTheSourceFile() {
        assertEquals("Read error [127.0.0.1]:7815: Connection reset by peer", LibtorchErrors.message(
                new RuntimeException("[/b/gloo/transport/tcp/pair.cc:538] Read error [127.0.0.1]:7815: Connection "
                        + "reset by peer")));
        assertEquals("The server socket has failed to listen. port: 29600", LibtorchErrors.message(
                new RuntimeException("The server socket has failed to listen. port: 29600\nException raised from "
                        + "makeWithPort at /b/TCPStoreLibUvBackend.cpp:313 (most recent call first):\nframe #0: x")));
        assertEquals("a [bracket] inside stays", LibtorchErrors.message(new RuntimeException("a [bracket] inside "
                + "stays")));
        assertEquals("", LibtorchErrors.message(new RuntimeException((String) null)));
    }
}
