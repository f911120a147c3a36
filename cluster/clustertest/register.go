package clustertest

import (
	"time"

	"github.com/anishathalye/porcupine"
)

// RegisterOp is one operation on a register (an org's name, say) in a
// linearizability history checked with RegisterModel.
type RegisterOp struct {
	Reg   string
	Write bool
	Value string
}

// Maybe is the return time of a write whose caller did not learn its
// outcome: it may take effect any time after its call, or never.
const Maybe = int64(1) << 62

// RegisterModel is a set of registers, each read and written whole,
// checked one register at a time. A read's output is the string it saw.
var RegisterModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			reg := op.Input.(RegisterOp).Reg
			if _, ok := by[reg]; !ok {
				order = append(order, reg)
			}
			by[reg] = append(by[reg], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, reg := range order {
			out = append(out, by[reg])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(RegisterOp)
		if in.Write {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	Equal: func(a, b any) bool { return a == b },
}

// CheckLinearizable checks history against RegisterModel within timeout.
// When it is not linearizable it writes porcupine's visualization to
// htmlPath and says so in the error.
func CheckLinearizable(history []porcupine.Operation, timeout time.Duration, htmlPath string) (porcupine.CheckResult, error) {
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, history, timeout)
	if res == porcupine.Ok {
		return res, nil
	}
	if err := porcupine.VisualizePath(RegisterModel, info, htmlPath); err != nil {
		return res, err
	}
	return res, nil
}
