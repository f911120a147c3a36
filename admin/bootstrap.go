package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
)

// Seed defaults, as the seed deployment's .env gives them.
const (
	DefaultAdminEmail    = "admin@example.com"
	DefaultAdminPassword = "ai-gateway-admin-2026"
	DefaultOrgName       = "default-org"
)

// BootstrapConfig is what the first start of a cluster creates.
type BootstrapConfig struct {
	AdminEmail    string
	AdminPassword string
	OrgName       string
}

// PreloadedProviders are the providers every new cluster starts with. Their
// keys come from the environment variables named in KeyEnv, so setting the
// variable at any later start makes them usable.
func PreloadedProviders() []fsm.Provider {
	return []fsm.Provider{
		{
			Slug: "dashscope", Name: "阿里云百炼", Format: fsm.FormatDashScope,
			BaseURL: "https://dashscope.aliyuncs.com/compatible-mode", APIPath: "/v1/chat/completions",
			KeyEnv: "DASHSCOPE_API_KEY",
			Models: []string{"qwen-plus", "qwen-max", "qwen-vl-plus",
				"wan2.2-t2i-flash", "qwen3-asr-flash", "qwen-tts", "qwen-vl-ocr"},
			Capabilities: []string{"llm", "image", "asr", "tts", "ocr"}, Enabled: true,
		},
		{
			Slug: "deepseek", Name: "DeepSeek", Format: fsm.FormatOpenAI,
			BaseURL: "https://api.deepseek.com", APIPath: "/v1/chat/completions",
			KeyEnv: "DEEPSEEK_API_KEY", Models: []string{"deepseek-v4-pro", "deepseek-v4-flash"},
			Capabilities: []string{"llm"}, Enabled: true,
		},
	}
}

// Bootstrap proposes the first org, the super admin and the preloaded
// providers if the replicated state has none yet. It is safe to call on
// every start and from every node: the fsm applies the first bootstrap and
// ignores the rest, so a restart never resets the admin's password.
func Bootstrap(ctx context.Context, a Applier, v Viewer, cfg BootstrapConfig) (applied bool, err error) {
	if v.View().Bootstrapped() {
		return false, nil
	}
	email := normalizeEmail(cfg.AdminEmail)
	if !strings.Contains(email, "@") {
		return false, fmt.Errorf("admin: ONPREM_ADMIN_EMAIL %q is not an email address", cfg.AdminEmail)
	}
	if cfg.AdminPassword == "" {
		return false, errors.New("admin: ONPREM_ADMIN_PASSWORD must not be empty")
	}
	hash, err := HashPassword(cfg.AdminPassword)
	if err != nil {
		return false, fmt.Errorf("hash admin password: %w", err)
	}
	body := fsm.BootstrapBody{
		Meta: fsm.Meta{ClusterID: newID("cluster")},
		Org:  fsm.Org{ID: newID("org"), Name: cfg.OrgName},
		Admin: fsm.User{
			ID: newID("usr"), Email: email, Name: "Super Admin", PasswordHash: hash,
			Role: fsm.RoleSuperAdmin, MustChangePassword: cfg.AdminPassword == DefaultAdminPassword,
		},
		Providers: PreloadedProviders(),
	}
	r, err := fsm.Propose[fsm.BootstrapResult](ctx, a, fsm.Command{Type: fsm.TypeBootstrap, Body: body})
	if err != nil {
		return false, fmt.Errorf("propose bootstrap: %w", err)
	}
	return r.Applied, nil
}
