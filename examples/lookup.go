// lookup.go: look up one client by id in Roster with the Varlink Go binding
// (github.com/varlink/go, Debian package golang-github-varlink-go-dev).
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o lookup lookup.go
//	ROSTER_SOCKET=/run/roster/roster.sock ./lookup 0123456789abcdef0123456789abcdef
//
// The daemon knows the caller by its uid (SO_PEERCRED): nothing identifies
// the service but the account it runs under. The reply holds only the
// fields that account's role may see. Exit status: 0 found, 1 other
// failure, 2 usage, 3 not found, 4 permission denied, 5 quota exceeded,
// 6 locked (the same in lookup.c and lookup.py).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/varlink/go/varlink"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lookup CLIENT-ID")
		return 2
	}
	id := os.Args[1]
	path := os.Getenv("ROSTER_SOCKET")
	if path == "" {
		path = "/run/roster/roster.sock"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := varlink.NewConnection(ctx, "unix:"+path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lookup: cannot reach the registry: %v\n", err)
		return 1
	}
	defer conn.Close()

	// Hidden field classes are absent from the object, not empty: a map
	// keeps exactly what the role may see.
	var reply struct {
		Client map[string]interface{} `json:"client"`
	}
	err = conn.Call(ctx, "io.roster.Clients.Get", map[string]string{"id": id}, &reply)
	var verr *varlink.Error
	switch {
	case err == nil:
		out, _ := json.Marshal(reply.Client) // maps are encoded with sorted keys
		fmt.Println(string(out))
		return 0
	case !errors.As(err, &verr):
		fmt.Fprintf(os.Stderr, "lookup: %v\n", err)
		return 1
	case verr.Name == "io.roster.NotFound":
		fmt.Fprintf(os.Stderr, "lookup: no client has the id %s\n", id)
		return 3
	case verr.Name == "io.roster.PermissionDenied":
		fmt.Fprintf(os.Stderr, "lookup: permission denied: this account is not a principal "+
			"whose role may read clients (%s)\n", message(verr))
		return 4
	case verr.Name == "io.roster.QuotaExceeded":
		fmt.Fprintln(os.Stderr, "lookup: quota exceeded: this service has read as many "+
			"records as its role allows for now")
		return 5
	case verr.Name == "io.roster.Locked":
		fmt.Fprintln(os.Stderr, "lookup: this service's principal is locked; an admin must "+
			"unlock it (rosterctl principal unlock NAME)")
		return 6
	default:
		fmt.Fprintf(os.Stderr, "lookup: %s %s\n", verr.Name, message(verr))
		return 1
	}
}

// message is the human-readable "message" parameter of a Roster error, if any.
func message(e *varlink.Error) string {
	var p struct {
		Message string `json:"message"`
	}
	if raw, ok := e.Parameters.(*json.RawMessage); ok && raw != nil {
		_ = json.Unmarshal(*raw, &p)
	}
	return p.Message
}
