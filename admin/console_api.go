package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/admin/console"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// AlertRecord is one alert delivery of this node (console.AlertRecord).
type AlertRecord = console.AlertRecord

// consoleAPI gives the console the API's views of records and its usage
// filter and audit lookup, so a page shows what the API answers.
type consoleAPI struct{ s *Server }

var _ console.API = consoleAPI{}

func (a consoleAPI) ProviderView(p *fsm.Provider) any { return a.s.toProviderJSON(p) }

func (consoleAPI) PolicyView(p *fsm.Policy) any { return toPolicyJSON(p) }

func (consoleAPI) PriceView(p *fsm.Price) any { return toPriceJSON(p) }

func (a consoleAPI) UsersView(c ops.Caller, keep func(*fsm.User) bool) []any {
	out := []any{}
	for _, u := range a.s.usersWhere(c, keep) {
		out = append(out, u)
	}
	return out
}

func (a consoleAPI) Filter(r *http.Request, q url.Values) (event.Filter, *time.Location, error) {
	return a.s.filter(r, q)
}

func (a consoleAPI) Event(r *http.Request, id string) (*event.Event, error) {
	return a.s.oneEvent(r, id)
}

// usersWhere lists, sorted by email, the users c may see that keep
// selects.
func (s *Server) usersWhere(c ops.Caller, keep func(*fsm.User) bool) []userJSON {
	out := []userJSON{}
	for _, u := range s.d.Viewer.View().Users {
		if !c.CanSeeUser(u) || !keep(u) {
			continue
		}
		out = append(out, toUserJSON(u))
	}
	slices.SortFunc(out, func(a, b userJSON) int { return strings.Compare(a.Email, b.Email) })
	return out
}
