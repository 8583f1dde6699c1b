package agent

// SetBeforeHeartbeatWrite makes each heartbeat of a call f between reading
// the host record and writing it. Call it before Run.
func SetBeforeHeartbeatWrite(a *Agent, f func()) { a.beforeHeartbeatWrite = f }

// SetCatchUpFault makes each catch-up of a call f first, and fail with its
// error. Call it before Run.
func SetCatchUpFault(a *Agent, f func() error) { a.catchUpFault = f }
