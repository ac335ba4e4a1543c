// Package client talks to a running node's HTTP APIs: the public, read-only
// one (status, deployments, parameters, readiness, state IDs, submissions,
// health) and the admin one (governance submissions, with the bearer token
// from the node's home). node-plugin's own commands and the local testnets
// use it, and so can tools that watch or drive a node.
//
// A Client is made for an address (New) or for the node running in a home
// (FromHome, AdminFromHome, which read the addresses the node records in
// HOME/api.json). Every call takes a context and is bounded by the client's
// timeout as well. An answer other than the one expected is an *Error that
// names the endpoint, the HTTP status and the start of the body.
package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quorumgate/quorumgate/node"
)

// DefaultTimeout bounds each call unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// maxBody bounds what is read of an answer; maxErrorBody what an *Error
// quotes of it.
const (
	maxBody      = 16 << 20
	maxErrorBody = 512
)

// ErrNoAdmin is returned by admin calls on a client without an admin API.
var ErrNoAdmin = errors.New("no admin API address")

// Client talks to one node. It is safe for concurrent use; reuse it rather
// than make one per call (a unix socket client keeps its own connections).
type Client struct {
	api   endpoint
	admin *endpoint // nil: no admin API
	token string
}

// endpoint is one API: its address as given, the base URL of its requests,
// and the HTTP client that reaches it.
type endpoint struct {
	addr string
	base string
	http *http.Client
}

// Option adjusts New, FromHome and AdminFromHome.
type Option func(*options)

type options struct {
	timeout      time.Duration
	admin, token string
}

// WithTimeout bounds each call (default DefaultTimeout); the call's context
// can end it sooner.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithAdmin gives the admin API's address and its bearer token (the content
// of HOME/admin.token; surrounding white space is ignored).
func WithAdmin(addr, token string) Option {
	return func(o *options) { o.admin, o.token = addr, strings.TrimSpace(token) }
}

// New is a client for the public API at addr: "host:port", "unix:PATH" for
// a unix socket, or a base URL ("http://host:port").
func New(addr string, opts ...Option) *Client {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{api: newEndpoint(addr, o.timeout)}
	if o.admin != "" {
		admin := newEndpoint(o.admin, o.timeout)
		c.admin, c.token = &admin, o.token
	}
	return c
}

func newEndpoint(addr string, timeout time.Duration) endpoint {
	e := endpoint{addr: addr, base: strings.TrimSuffix(addr, "/"), http: &http.Client{Timeout: timeout}}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		e.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}
		e.base = "http://unix"
	} else if !strings.Contains(addr, "://") {
		e.base = "http://" + addr
	}
	return e
}

// FromHome is a client for the public API of the node running in home, at
// the address it recorded in HOME/api.json.
func FromHome(home string, opts ...Option) (*Client, error) {
	addrs, err := readAddrs(home)
	if err != nil {
		return nil, err
	}
	return New(addrs.API, opts...), nil
}

// AdminFromHome is FromHome with the admin API as well: its address from
// HOME/api.json, its token from HOME/admin.token.
func AdminFromHome(home string, opts ...Option) (*Client, error) {
	addrs, err := readAddrs(home)
	if err != nil {
		return nil, err
	}
	if addrs.Admin == "" {
		return nil, fmt.Errorf("%w: the node in %s runs none (set api.admin in its config)", ErrNoAdmin, home)
	}
	token, err := ReadToken(home)
	if err != nil {
		return nil, err
	}
	return New(addrs.API, append(opts, WithAdmin(addrs.Admin, token))...), nil
}

// ReadToken reads the admin API's token from HOME/admin.token.
func ReadToken(home string) (string, error) {
	data, err := os.ReadFile(filepath.Join(home, node.AdminTokenFile))
	if err != nil {
		return "", fmt.Errorf("the admin token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func readAddrs(home string) (node.APIAddrs, error) {
	var addrs node.APIAddrs
	data, err := os.ReadFile(filepath.Join(home, node.APIAddrFile))
	if err != nil {
		return addrs, fmt.Errorf("no running node found in %s (%v): start it with node-plugin run --home %s", home, err, home)
	}
	if err := json.Unmarshal(data, &addrs); err != nil {
		return addrs, fmt.Errorf("%s: %w", filepath.Join(home, node.APIAddrFile), err)
	}
	return addrs, nil
}

// Addr is the public API's address, as given.
func (c *Client) Addr() string { return c.api.addr }

// URL is the full URL of a public API path, for messages ("check with curl
// URL"); for a unix socket its host is "unix".
func (c *Client) URL(path string) string { return c.api.base + path }

// Error is an answer with another HTTP status than the call expects.
type Error struct {
	// Endpoint is the method and the path asked, such as "GET /status".
	Endpoint string
	// StatusCode and Status are the answer's, such as 503 and
	// "503 Service Unavailable".
	StatusCode int
	Status     string
	// Body is the start of the answer's body (at most 512 bytes), without
	// surrounding white space.
	Body string
}

func (e *Error) Error() string {
	if e.Body == "" {
		return e.Endpoint + ": " + e.Status
	}
	return e.Endpoint + ": " + e.Status + ": " + e.Body
}

// do sends a request to e and returns the answer's body when its status is
// want; any other answer is an *Error.
func (c *Client) do(ctx context.Context, e endpoint, method, path string, header http.Header, body []byte, want int) ([]byte, error) {
	name := method + " " + path
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is e.addr and path, said below
		}
		return nil, fmt.Errorf("%s: the node at %s does not answer: %w", name, e.addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s: %s, then the answer broke off: %w", name, resp.Status, err)
	}
	if resp.StatusCode != want {
		return nil, &Error{Endpoint: name, StatusCode: resp.StatusCode, Status: resp.Status, Body: truncate(data)}
	}
	return data, nil
}

// truncate is the start of an error's body, trimmed, with "…" where it was cut.
func truncate(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) <= maxErrorBody {
		return s
	}
	cut := maxErrorBody
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// utf8Start reports whether b begins a UTF-8 sequence (is not a continuation byte).
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Get asks a public API path and decodes its JSON answer into v (nil: only
// the status counts). The answer must be 200 OK.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	data, err := c.do(ctx, c.api, http.MethodGet, path, nil, nil, http.StatusOK)
	if err != nil || v == nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("GET %s: the answer is not the JSON expected: %w", path, err)
	}
	return nil
}

// Ready is nil when the node is synced to the chain head (/readyz).
func (c *Client) Ready(ctx context.Context) error {
	return c.Get(ctx, "/readyz", nil)
}

// Status is the node's /status.
func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var st node.Status
	err := c.Get(ctx, "/status", &st)
	return st, err
}

// Deployments is every deployment with its state (/deployments).
func (c *Client) Deployments(ctx context.Context) ([]node.DeploymentStatus, error) {
	var v []node.DeploymentStatus
	err := c.Get(ctx, "/deployments", &v)
	return v, err
}

// Params is every protocol parameter with its type, active value, history
// and pending changes (/params).
func (c *Client) Params(ctx context.Context) ([]node.ParamStatus, error) {
	var v []node.ParamStatus
	err := c.Get(ctx, "/params", &v)
	return v, err
}

// ParamsAt is the value of every protocol parameter that governed view
// (/params?at=VIEW); a view after the head's is a 404 *Error.
func (c *Client) ParamsAt(ctx context.Context, view uint64) (node.ParamsAt, error) {
	var v node.ParamsAt
	err := c.Get(ctx, fmt.Sprintf("/params?at=%d", view), &v)
	return v, err
}

// Readiness is a stake deployment's finalized readiness in the head block's
// epoch.
func (c *Client) Readiness(ctx context.Context, deployment string) (node.ReadinessReport, error) {
	return c.readiness(ctx, url.Values{"deployment": {deployment}})
}

// ReadinessAtLockIn is who was ready in the block that locked the deployment in.
func (c *Client) ReadinessAtLockIn(ctx context.Context, deployment string) (node.ReadinessReport, error) {
	return c.readiness(ctx, url.Values{"deployment": {deployment}, "at": {"lock-in"}})
}

// ReadinessAtHeight is the readiness in the epoch of the block at height.
func (c *Client) ReadinessAtHeight(ctx context.Context, deployment string, height uint64) (node.ReadinessReport, error) {
	return c.readiness(ctx, url.Values{"deployment": {deployment}, "height": {fmt.Sprint(height)}})
}

func (c *Client) readiness(ctx context.Context, q url.Values) (node.ReadinessReport, error) {
	var v node.ReadinessReport
	err := c.Get(ctx, "/readiness?"+q.Encode(), &v)
	return v, err
}

// StateID is the protocol state ID (hex) after the block at height.
func (c *Client) StateID(ctx context.Context, height uint64) (string, error) {
	var v struct {
		StateID string `json:"state_id"`
	}
	err := c.Get(ctx, fmt.Sprintf("/state-id?height=%d", height), &v)
	return v.StateID, err
}

// Submission is what the node knows of a governance item submitted through
// it, by the ID Submit returned.
func (c *Client) Submission(ctx context.Context, id string) (node.Submission, error) {
	var v node.Submission
	err := c.Get(ctx, "/submissions/"+url.PathEscape(id), &v)
	return v, err
}

// Submit hands a signed governance item (kind "proposal" or "cancel", in
// its canonical encoding) to the node's admin API, which gossips it, and
// returns its submission ID. The answer must be 202 Accepted.
func (c *Client) Submit(ctx context.Context, kind string, payload []byte) (string, error) {
	if c.admin == nil {
		return "", ErrNoAdmin
	}
	body, err := json.Marshal(node.GovernanceRequest{Kind: kind, Payload: hex.EncodeToString(payload)})
	if err != nil {
		return "", fmt.Errorf("encode the %s: %w", kind, err)
	}
	header := http.Header{"Authorization": {"Bearer " + c.token}, "Content-Type": {"application/json"}}
	data, err := c.do(ctx, *c.admin, http.MethodPost, "/governance", header, body, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	var accepted struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &accepted); err != nil || accepted.ID == "" {
		return "", fmt.Errorf("POST /governance: the node accepted the %s but gave no submission ID (%q)", kind, truncate(data))
	}
	return accepted.ID, nil
}
