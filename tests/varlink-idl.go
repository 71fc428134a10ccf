// varlink-idl.go: Varlink conformance as seen by a third-party client, the
// Go binding Debian packages (github.com/varlink/go 0.4.0). Run by
// tests/e2e/conformance.sh against a real, unsealed daemon.
//
//	usage: varlink-idl SOCKET
//
// It introspects the daemon with the binding's own calls (GetInfo,
// GetInterfaceDescription), parses every description with the binding's
// IDL parser, checks that the standard errors arrive as the binding's typed
// errors, and follows Audit.Tail with "more". Prints TAP-style lines and
// exits 1 if any check failed.
//
// Debian 12's binding predates two relaxations, and the parser is given
// exactly these allowances (each is reported on its line, so nothing else
// is waived):
//   - upper-case letters in interface names (io.roster.Clients): allowed by
//     the Varlink specification since December 2021 and by the binding from
//     its later releases; systemd's interfaces use them too. The description
//     is parsed again with only its interface name in lower case.
//   - an interface that declares only errors (io.roster): its grammar is
//     parsed in full, then the binding refuses it with "no methods defined".
//     That exact refusal is accepted when the description has no method.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"
)

var failed, passed int

func check(ok bool, format string, args ...interface{}) {
	if ok {
		passed++
		fmt.Printf("ok %d - %s\n", passed+failed, fmt.Sprintf(format, args...))
	} else {
		failed++
		fmt.Printf("not ok %d - %s\n", passed+failed, fmt.Sprintf(format, args...))
	}
}

var methodLine = regexp.MustCompile(`(?m)^method `)

// parse parses one description with the binding's parser, within the two
// allowances above; it returns the parsed IDL (nil for an errors-only
// interface), the allowance used ("" for none) and the parser's error.
func parse(name, desc string) (*idl.IDL, string, error) {
	parsed, err := idl.New(desc)
	if err == nil {
		return parsed, "", nil
	}
	allowance := ""
	if name != strings.ToLower(name) {
		allowance = "upper-case interface name parsed in lower case"
		desc = strings.Replace(desc, "interface "+name+"\n",
			"interface "+strings.ToLower(name)+"\n", 1)
		parsed, err = idl.New(desc)
	}
	if err != nil && err.Error() == "no methods defined" && !methodLine.MatchString(desc) {
		if allowance != "" {
			allowance += "; "
		}
		return nil, allowance + "errors only: the grammar parsed, no method required", nil
	}
	return parsed, allowance, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: varlink-idl SOCKET")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := varlink.NewConnection(ctx, "unix:"+os.Args[1])
	if err != nil {
		fmt.Println("not ok 1 - connect:", err)
		os.Exit(1)
	}
	defer conn.Close()

	// --- introspection through the binding ------------------------------
	var vendor, product, version, url string
	var ifaces []string
	err = conn.GetInfo(ctx, &vendor, &product, &version, &url, &ifaces)
	check(err == nil && vendor != "" && product != "" && version != "" && len(ifaces) > 0,
		"GetInfo decodes: vendor %q product %q version %q, %d interfaces (%v)",
		vendor, product, version, len(ifaces), err)
	seen := map[string]bool{}
	for _, name := range ifaces {
		seen[name] = true
		desc, err := conn.GetInterfaceDescription(ctx, name)
		if err != nil {
			check(false, "GetInterfaceDescription(%s): %v", name, err)
			continue
		}
		parsed, allowance, err := parse(name, desc)
		note := ""
		if allowance != "" {
			note = " (allowance: " + allowance + ")"
		}
		check(err == nil && (parsed == nil || parsed.Name == strings.ToLower(name)),
			"the Go binding's IDL parser accepts %s%s%s", name, note, errText(err))
		if parsed != nil {
			check(len(parsed.Methods) == len(methodLine.FindAllString(desc, -1)),
				"... and finds its %d methods", len(parsed.Methods))
		}
	}
	check(seen["org.varlink.service"], "GetInfo lists org.varlink.service")

	// --- standard errors, as the binding's typed errors -----------------
	var none struct{}
	err = conn.Call(ctx, "com.example.Nope.Get", nil, &none)
	var inf *varlink.InterfaceNotFound
	check(errors.As(err, &inf) && inf.Interface == "com.example.Nope",
		"an unknown interface is the binding's InterfaceNotFound naming it (%v)", err)
	err = conn.Call(ctx, "io.roster.Clients.Steal", nil, &none)
	var mnf *varlink.MethodNotFound
	check(errors.As(err, &mnf) && mnf.Method == "Steal",
		"an unknown method is the binding's MethodNotFound naming it (%v)", err)
	err = conn.Call(ctx, "io.roster.Clients.Get", map[string]int{"id": 7}, &none)
	var ip *varlink.InvalidParameter
	check(errors.As(err, &ip) && ip.Parameter == "id",
		"a parameter of the wrong type is the binding's InvalidParameter naming it (%v)", err)
	err = conn.Call(ctx, "io.roster.Clients.Get",
		map[string]string{"id": strings.Repeat("0", 32)}, &none)
	var verr *varlink.Error
	check(errors.As(err, &verr) && verr.Name == "io.roster.NotFound",
		"a Roster error arrives as a varlink.Error with its name (%v)", err)

	// --- "more": Audit.Tail streams with "continues" ---------------------
	tail, err := varlink.NewConnection(ctx, "unix:"+os.Args[1])
	if err == nil {
		defer tail.Close()
		var rec struct {
			Record map[string]interface{} `json:"record"`
		}
		var recv func(context.Context, interface{}) (uint64, error)
		recv, err = tail.Send(ctx, "io.roster.Audit.Tail", map[string]int{"after": 0}, varlink.More)
		if err == nil {
			var flags uint64
			flags, err = recv(ctx, &rec)
			check(err == nil && flags&varlink.Continues != 0 && rec.Record["seq"] != nil,
				"Audit.Tail with more: the first reply continues and holds a record (%v)", err)
			flags, err = recv(ctx, &rec)
			check(err == nil && flags&varlink.Continues != 0,
				"... and so does the second (%v)", err)
		}
	}
	if err != nil {
		check(false, "Audit.Tail with more: %v", err)
	}
	// Without "more" the stream refuses with the standard error.
	err = conn.Call(ctx, "io.roster.Audit.Tail", nil, &none)
	check(errors.As(err, &verr) && verr.Name == "org.varlink.service.ExpectedMore",
		"Audit.Tail without more: org.varlink.service.ExpectedMore (%v)", err)

	fmt.Printf("# %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
