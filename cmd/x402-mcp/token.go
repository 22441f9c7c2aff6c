package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// cmdToken makes and hashes principals' bearer tokens (docs/gateway.md):
// `token new` prints a new random token and the hash a principals file
// takes; `token hash` reads a token on stdin and prints its hash. A token
// is never a flag: command lines are visible to every user of the machine.
func cmdToken(e env, args []string) error {
	if len(args) == 0 || args[0] != "new" && args[0] != "hash" {
		return usageError{"usage: x402-mcp token new | x402-mcp token hash < FILE (the token on stdin)"}
	}
	fs := newFlags("token "+args[0], e)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"x402-mcp token " + args[0] + " takes no arguments: a token is read on stdin, never from the command line"}
	}
	if args[0] == "new" {
		var b [32]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		tok := hex.EncodeToString(b[:])
		fmt.Fprintf(e.stdout, "token:  %s\nsha256: %s\n", tok, tools.FormatTokenHash(tools.HashToken(tok)))
		fmt.Fprintln(e.stderr, "Give the token to the principal's client (Authorization: Bearer <token>), and put either ${VARIABLE} (a variable that holds it) or the sha256 line in its tokens:.")
		return nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	tok := strings.TrimSpace(line)
	if tok == "" {
		if err != nil && err.Error() != "EOF" {
			return fmt.Errorf("read the token on stdin: %w", err)
		}
		return usageError{"give the token on stdin, e.g. x402-mcp token hash < token-file"}
	}
	if len(tok) < server.MinTokenLength {
		return fmt.Errorf("the token is %d characters; use at least %d (x402-mcp token new makes one)", len(tok), server.MinTokenLength)
	}
	fmt.Fprintln(e.stdout, tools.FormatTokenHash(tools.HashToken(tok)))
	return nil
}
