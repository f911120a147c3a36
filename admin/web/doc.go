// Package web holds what the admin's two HTTP adapters over admin/ops,
// the JSON API (package admin) and the console (admin/console), share:
// the error table and envelope, the session keyring and tokens, one
// session check and sign-in with its lockout, and the read barrier
// middleware. It knows neither adapter.
package web
