// Package rawhttp is a test server that answers HTTP requests with bytes
// written as they are: malformed status lines and headers that net/http's
// own server refuses to send, as a hostile seller or node might.
package rawhttp

import (
	"bufio"
	"io"
	"net"
	"testing"
)

// Serve starts a TCP server on loopback that reads each request's head and
// answers it with answer, then closes the connection. It returns the
// server's URL ("http://127.0.0.1:port/") and stops at the test's end.
func Serve(t testing.TB, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Log(err)
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener closed at the test's end
			}
			go answerOne(conn, answer)
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func answerOne(conn net.Conn, answer string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for { // the request's head, up to its blank line
		line, err := r.ReadString('\n')
		if err != nil || line == "\r\n" {
			break
		}
	}
	// An error here is the client giving up early; the test asserts what
	// the client saw.
	_, _ = io.WriteString(conn, answer)
}
