package agent

// SetBeforeHeartbeatWrite makes each heartbeat of a call f between reading
// the host record and writing it. Call it before Run.
func SetBeforeHeartbeatWrite(a *Agent, f func()) { a.beforeHeartbeatWrite = f }
