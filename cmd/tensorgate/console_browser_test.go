package main

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

// browser starts Debian's Chromium headless for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("the console's browser tests need Chromium: apt-get install chromium (.ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	watchPolicy(t, ctx)
	return ctx
}

// policyWatch runs first in every page the tab loads and records what the
// page's Content-Security-Policy blocked: a console that needs something
// its policy forbids is broken in every browser, silently.
const policyWatch = `window.__blocked = [];
document.addEventListener('securitypolicyviolation', e =>
	window.__blocked.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`

// watchPolicy installs policyWatch in ctx's tab.
func watchPolicy(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: policyWatch}); err != nil {
		t.Fatalf("watch the pages' policy: %v", err)
	}
}

// screenshot saves the page as a test artifact under
// $TENSORGATE_ARTIFACTS (default: the test's temporary directory).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TENSORGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	blocked, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__blocked || []`))
	if err != nil {
		t.Fatalf("%s: read what the policy blocked: %v", name, err)
	}
	if len(blocked) > 0 {
		t.Errorf("%s: the page's policy blocked %q", name, blocked)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInBrowser signs in to a real node's console in Chromium,
// changes the initial password, creates a key and reads it off the page,
// calls the data plane with it, disables it and sees the next call
// refused.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	p := startProc(t, t.TempDir(), "BETTER_AUTH_SECRET=console-test-secret-0123456789")
	mock := httptest.NewServer(mockupstream.New(mockupstream.Behavior{}))
	defer mock.Close()
	ctx := browser(t)
	base := p.url("")
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.SendKeys(chromedp.CSS("#email"), "admin@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "ai-gateway-admin-2026"),
		chromedp.Click(chromedp.CSS("#signin")),
		// The initial password must go first.
		chromedp.WaitVisible(chromedp.CSS("#new")),
	)
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice")))
	if err != nil || !strings.Contains(text, "初始密码") {
		t.Fatalf("sign-in: %v %q", err, text)
	}
	screenshot(t, ctx, "password")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#cur"), "ai-gateway-admin-2026"),
		chromedp.SendKeys(chromedp.CSS("#new"), "a-much-longer-password-2026"),
		chromedp.Submit(chromedp.CSS("#new")),
		chromedp.WaitVisible(chromedp.CSS("#stat-requests")),
	)
	if err != nil {
		t.Fatalf("change password: %v", err)
	}
	screenshot(t, ctx, "overview")

	// Add a provider pointing at the mock upstream, and test it.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/cap/llm"),
		chromedp.WaitVisible(chromedp.CSS("#add-provider")),
		chromedp.SendKeys(chromedp.CSS(`#add-provider input[name="name"]`), "Mock"),
		chromedp.SendKeys(chromedp.CSS(`#add-provider input[name="slug"]`), "mock"),
		chromedp.SendKeys(chromedp.CSS(`#add-provider input[name="base_url"]`), mock.URL),
		chromedp.SendKeys(chromedp.CSS(`#add-provider input[name="models"]`), "mock-model"),
		chromedp.Submit(chromedp.CSS(`#add-provider input[name="name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-provider="mock"]`)),
		chromedp.Click(chromedp.Search(`//tr[@data-provider="mock"]//button[contains(., "测试连接")]`)),
		chromedp.WaitVisible(chromedp.CSS("#conn-test")),
	)
	conn, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#conn-test")))
	if err != nil || !strings.Contains(conn, "连接成功") || !strings.Contains(conn, "HTTP 200") {
		t.Fatalf("provider and connection test: %v %q", err, conn)
	}
	screenshot(t, ctx, "providers")

	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.WaitVisible(chromedp.CSS("#create-key")),
		chromedp.SendKeys(chromedp.CSS("#name"), "browser key"),
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS("#new-secret")),
	)
	secret, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#new-secret")))
	secret = strings.TrimSpace(secret)
	if err != nil || !strings.HasPrefix(secret, "gk_") {
		t.Fatalf("create key: %v %q", err, secret)
	}
	screenshot(t, ctx, "keys")
	if r := chat(p, secret, "mock-model", 8); r.status != 200 {
		t.Fatalf("a call with the key from the page: %+v", r)
	}

	// The call is on the audit page, with its failover chain.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/audit"),
		chromedp.WaitVisible(chromedp.CSS("#audit-table")),
		chromedp.Click(chromedp.Search(`//table[@id="audit-table"]//tr[td[4][normalize-space()="mock-model"]]//a`)),
		chromedp.WaitVisible(chromedp.CSS("#chain")),
	)
	chain, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#chain")))
	if err != nil || !strings.Contains(chain, "mock") || !strings.Contains(chain, "ok") {
		t.Fatalf("audit detail: %v %q", err, chain)
	}
	screenshot(t, ctx, "audit")
	// And on the usage page once the counters have it (shipped within a
	// second or two).
	deadline := time.Now().Add(15 * time.Second)
	for {
		err = chromedp.Do(ctx, chromedp.Navigate(base+"/usage?group_by=key"), chromedp.WaitVisible(chromedp.CSS("#usage-requests")))
		n, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#usage-requests")))
		if err == nil && strings.TrimSpace(n) != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage page: %v, %q requests", err, n)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The chart is drawn by the console's own script: no page has an
	// inline one, and the policy allows none.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#usage-chart .uplot canvas"))); err != nil {
		t.Fatalf("usage chart: %v", err)
	}
	screenshot(t, ctx, "usage")

	// Disable it from the page: the next call is refused.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.Click(chromedp.Search(`//tr[td[1][normalize-space()="browser key"]]//button[contains(., "停用")]`)),
		chromedp.WaitVisible(chromedp.Search(`//tr[td[1][normalize-space()="browser key"]]//span[contains(., "已停用")]`)),
	)
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	if r := chat(p, secret, "mock-model", 8); r.status != 401 {
		t.Fatalf("a call with the disabled key: %+v", r)
	}
	// Revoking asks first: dismissed, nothing happens; accepted, the key
	// is revoked.
	answers, asked := make(chan bool, 2), make(chan string, 2)
	answers <- false
	answers <- true
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			asked <- ev.Message
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: <-answers}); err != nil {
				return
			}
		}
	}()
	revoke := chromedp.Search(`//tr[td[1][normalize-space()="browser key"]]//button[contains(., "吊销")]`)
	if err := chromedp.Do(ctx, chromedp.Click(revoke)); err != nil {
		t.Fatalf("revoke, dismissed: %v", err)
	}
	if msg := <-asked; !strings.Contains(msg, "确定吊销") {
		t.Fatalf("revoke asked %q", msg)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.WaitVisible(chromedp.Search(`//tr[td[1][normalize-space()="browser key"]]//span[contains(., "已停用")]`)),
		chromedp.Click(revoke),
		chromedp.WaitVisible(chromedp.Search(`//tr[td[1][normalize-space()="browser key"]]//span[contains(., "已吊销")]`)),
	)
	if err != nil || len(asked) != 1 {
		t.Fatalf("revoke, accepted: %v (%d more questions)", err, len(asked))
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/cluster"),
		chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.Click(chromedp.Search(`//a[contains(., "English")]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Cluster")]`)),
	)
	langText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || langText != "Cluster" {
		t.Fatalf("English: %v %q", err, langText)
	}
	screenshot(t, ctx, "cluster")
	// A screenshot of every other page.
	for _, pg := range []string{"cap/image", "cap/asr", "cap/tts", "cap/ocr", "cap/vision-segment", "routing", "orgs", "alerts"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatalf("%s: %v", pg, err)
		}
		screenshot(t, ctx, strings.ReplaceAll(pg, "/", "-"))
	}

	// An org admin sees its own org only.
	tok := p.login("a-much-longer-password-2026")
	code, o := p.call("POST", "/api/admin/orgs", tok, map[string]any{"name": "secret-org"})
	if code != 201 {
		t.Fatalf("org: %d %v", code, o)
	}
	p.call("POST", "/api/admin/keys", tok, map[string]any{"name": "secret-org-key", "org_id": o["id"]})
	if code, u := p.call("POST", "/api/admin/users", tok, map[string]any{"email": "oa@example.com", "password": "org-admin-password",
		"role": "org_admin", "org_id": orgID(t, p, tok, "default-org")}); code != 201 {
		t.Fatalf("org admin: %d %v", code, u)
	}
	octx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext()) // a fresh profile: no session
	defer cancel()
	watchPolicy(t, octx)
	err = chromedp.Do(octx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.SendKeys(chromedp.CSS("#email"), "oa@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "org-admin-password"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#stat-requests")),
		chromedp.Navigate(base+"/keys"),
		chromedp.WaitVisible(chromedp.CSS("#keys")),
	)
	keys, _ := chromedp.Run(octx, chromedp.Text(chromedp.CSS("#keys")))
	if err != nil || strings.Contains(keys, "secret-org-key") || !strings.Contains(keys, "browser key") {
		t.Fatalf("org admin's keys: %v %q", err, keys)
	}
	err = chromedp.Do(octx, chromedp.Navigate(base+"/orgs"), chromedp.WaitVisible(chromedp.CSS("main")))
	orgs, _ := chromedp.Run(octx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || strings.Contains(orgs, "secret-org") {
		t.Fatalf("org admin's orgs: %v %q", err, orgs)
	}
	screenshot(t, octx, "orgs-as-org-admin")
}
