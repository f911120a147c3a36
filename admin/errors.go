package admin

import (
	"log/slog"
	"net/http"

	"github.com/tensorgate/tensorgate/admin/web"
)

// apiError is the error envelope's error (web.APIError, shared with the
// console and the data plane).
type apiError = web.APIError

func badRequest(param, msg string) *apiError { return web.BadRequest(param, msg) }

func unauthorized(msg string) *apiError { return web.Unauthorized(msg) }

func forbidden(msg string) *apiError { return web.Forbidden(msg) }

func notFoundErr(msg string) *apiError { return web.NotFound(msg) }

// toAPIError maps any error to what the client sees (web.ToAPIError).
func toAPIError(err error) *apiError { return web.ToAPIError(err) }

// writeError renders err in the OpenAI envelope and logs what the client
// does not see.
func writeError(w http.ResponseWriter, r *http.Request, lg *slog.Logger, err error) {
	web.WriteError(w, r, lg, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) { web.WriteJSON(w, status, v) }
