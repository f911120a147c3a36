package gateway

import (
	"net/http"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/route"
)

// step is one stage of a data-plane call, in the order serve runs them.
type step uint8

const (
	stepBegin   step = iota // authenticate; recorded from here on
	stepScope               // the key's capability or path scopes
	stepAdmit               // room in the outbox to record it
	stepRead                // the body, within the capability's limit
	stepDecode              // the capability's decoder: model, units
	stepModel               // the key's model allow-list
	stepResolve             // the targets that may serve it
	stepLimits              // key and org limits, reserving the estimate
	stepPlan                // the order to try the targets in
	stepCall                // upstream, with failover
)

var stepNames = [...]string{"begin", "scope", "admit", "read", "decode", "model", "resolve", "limits", "plan", "call"}

func (st step) String() string { return stepNames[st] }

// stepTracer hears each step a request enters; tests only.
type stepTracer func(path string, st step)

// endpoint is one data-plane path: its row of fsm.CapabilityTable and
// the decoder of its requests.
type endpoint struct {
	capability string
	path       string
	op         provider.Op
	multipart  bool
	decode     decoder
}

// decoder validates a request whose body serve has read (req.Body, or up
// for a multipart one), fills in what the gateway reads of it (the
// client's model at least) and returns the units its limits reserve.
type decoder func(req *provider.Request, up *upload) (provider.Usage, error)

// endpoints are the data plane's paths, derived from fsm.CapabilityTable.
func endpoints() []endpoint {
	var out []endpoint
	for _, c := range fsm.CapabilityTable {
		for _, e := range c.Endpoints {
			ep := endpoint{capability: c.Name, path: e.Path, op: provider.Op(e.Op), multipart: e.Body == fsm.BodyMultipart}
			ep.decode = decoderFor(ep)
			out = append(out, ep)
		}
	}
	return out
}

// llmDecoders are the decoders of operations whose bodies the gateway
// reads beyond the generic JSON checks.
var llmDecoders = map[provider.Op]decoder{
	provider.OpChat:       decodeLLMCall,
	provider.OpCompletion: decodeLLMCall,
	provider.OpEmbedding:  decodeLLMCall,
}

// decoderFor picks an endpoint's decoder: its operation's own, else the
// media decoder of its body kind, which checks what it knows of the
// operation and otherwise only asks for a model.
func decoderFor(e endpoint) decoder {
	if d, ok := llmDecoders[e.op]; ok {
		return d
	}
	if e.multipart {
		return decodeUploadCall
	}
	return decodeMediaCall
}

// serve is the one order of a data-plane call, whatever its capability:
// begin → scope → admit → read → decode → model → resolve → limits →
// plan → call. The endpoint supplies its decoder (with the units its
// limits reserve) and its operation, which the adapter and the billing
// of the answer (billedUnits) go by. Limits come after everything that
// may refuse the call for free, so a bad body or an unknown model
// spends nothing.
func (s *Server) serve(e endpoint) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rid string) (retErr error) {
		var trace stepTracer
		if tp := s.tracer.Load(); tp != nil {
			trace = *tp
		}
		enter := func(st step) {
			if trace != nil {
				trace(e.path, st)
			}
		}
		enter(stepBegin)
		x, p, err := s.begin(w, r, rid, e.capability)
		if err != nil {
			return err
		}
		defer func() { retErr = x.end(retErr) }()
		enter(stepScope)
		if err := p.AllowPath(e.capability, r.URL.Path); err != nil {
			return err
		}
		enter(stepAdmit)
		if err := s.admit(); err != nil {
			return err
		}
		enter(stepRead)
		req := &provider.Request{Op: e.op, Capability: e.capability}
		up, err := s.readRequest(w, r, x, e, req)
		if err != nil {
			return err
		}
		enter(stepDecode)
		est, err := e.decode(req, up)
		if err != nil {
			return err
		}
		x.ev.Model = req.ClientModel
		if req.ClientModel == "" {
			return apierr.Invalid("model", "model: is required")
		}
		enter(stepModel)
		if err := p.AllowModel(req.ClientModel); err != nil {
			return err
		}
		enter(stepResolve)
		targets := route.Resolve(x.state, req.ClientModel, e.capability, func(pv *fsm.Provider) bool {
			a := s.adapters[pv.Format]
			return a != nil && a.Supports(e.op) && p.AllowProvider(pv.Slug)
		})
		if len(targets) == 0 {
			return modelNotFound(req.ClientModel, e.capability)
		}
		enter(stepLimits)
		if x.ticket, err = s.reserve(r.Context(), p, x.state, req.ClientModel, est); err != nil {
			return err
		}
		enter(stepPlan)
		x.ev.Stream = req.Stream
		targets = s.plan(x.state, p, req.ClientModel, e.capability, targets)
		enter(stepCall)
		return s.callUpstream(r, x, p, e.op, req, targets)
	}
}

// callUpstream is the call step: the targets in order with failover, the
// answer billed in the operation's units. Images answered as links are
// held back, stored here, and linked to this gateway instead of the
// upstream's short-lived storage.
func (s *Server) callUpstream(r *http.Request, x *exchange, p auth.Principal, op provider.Op, req *provider.Request, targets []route.Target) error {
	keep := s.keepsImages(op, req)
	var held *bufferedSink
	if keep {
		held = &bufferedSink{}
		x.sink.hold = held
	}
	var err error
	x.res, x.attempts, err = s.call(r.Context(), p, targets, req, x.sink, x.start)
	x.sink.hold = nil
	if err != nil {
		return err
	}
	x.res.Usage = billedUnits(op, x.res.Usage, req.Measured)
	if !keep {
		return nil
	}
	out, err := s.storeImages(r.Context(), r, held.buf)
	if err != nil {
		return err
	}
	x.sink.Start(http.StatusOK, "application/json")
	_, err = x.sink.Write(out)
	return err
}

// readRequest reads the body by the endpoint's kind, within its
// capability's limit: a JSON body into req.Body, a multipart one spooled
// to disk (removed when the exchange ends).
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, x *exchange, e endpoint, req *provider.Request) (*upload, error) {
	if !e.multipart {
		body, err := readBody(w, r, s.cfg.maxBytes(e.capability, false))
		if err != nil {
			return nil, err
		}
		x.body, req.Body = body, body
		return nil, nil
	}
	up, err := spoolUpload(w, r, s.cfg.UploadDir, s.cfg.maxBytes(e.capability, true))
	if err != nil {
		return nil, err
	}
	x.cleanup = up.Close
	x.body = up.summary()
	return up, nil
}

// modelNotFound is the 404 of a model no usable target serves; chat's
// wording predates the other capabilities and stays as it was.
func modelNotFound(model, capability string) error {
	if capability == "llm" {
		return apierr.Newf(apierr.CodeModelNotFound, "the model %q does not exist or is not available to this key", model)
	}
	return apierr.Newf(apierr.CodeModelNotFound, "the model %q does not exist for %s or is not available to this key", model, capability)
}

// decodeLLMCall decodes a chat, completion or embedding body and
// reserves its estimated prompt and the completion it may ask for.
func decodeLLMCall(req *provider.Request, _ *upload) (provider.Usage, error) {
	in, err := decodeLLM(req.Op, req.Body)
	if err != nil {
		return provider.Usage{}, err
	}
	req.ClientModel = in.Model
	req.Stream = in.Stream != nil && *in.Stream
	req.ClientWantsUsage = in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	req.HasStreamOptions = in.hasStreamOptions
	req.PromptEstimate = in.promptEstimate()
	return provider.Usage{PromptTokens: req.PromptEstimate, CompletionTokens: in.completionReserve()}, nil
}

// decodeMediaCall decodes a JSON media body; the units it measured are
// reserved and bill the call where the upstream states none.
func decodeMediaCall(req *provider.Request, _ *upload) (provider.Usage, error) {
	in, u, err := decodeMedia(req.Op, req.Body)
	if err != nil {
		return provider.Usage{}, err
	}
	req.ClientModel, req.Measured = in.Model, u
	return u, nil
}

// decodeUploadCall checks a spooled multipart request and measures it.
func decodeUploadCall(req *provider.Request, up *upload) (provider.Usage, error) {
	u, err := measureUpload(req.Op, up)
	if err != nil {
		return provider.Usage{}, err
	}
	req.Upload, req.ClientModel, req.Measured = up, up.Field("model"), u
	return u, nil
}
