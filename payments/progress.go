package payments

import "context"

// The steps of a call that Client.Do reports through a Progress callback.
const (
	StepRequesting  = "requesting"
	StepApproval    = "waiting for the human's approval"
	StepPaying      = "paying"
	StepWaitingPaid = "waiting for the paid answer"
)

// Progress is told each step of a call as it begins. It must not block.
type Progress func(step string)

type progressKey struct{}

// WithProgress returns a context whose calls through Client.Do report their
// steps to f. Package server turns them into MCP progress notifications.
func WithProgress(ctx context.Context, f Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

func progress(ctx context.Context, step string) {
	if f, ok := ctx.Value(progressKey{}).(Progress); ok && f != nil {
		f(step)
	}
}
