package loadtest

// filesMargin is the open files a run needs besides one per session:
// standard streams, the runtime's poller, a JSON summary.
const filesMargin = 64

// FilesNeeded is about how many open files a run of this many sessions
// needs: one per session and a margin. Compare it with OpenFileLimit
// before a run, which would otherwise fail halfway with obscure dial
// errors.
func FilesNeeded(sessions int) uint64 {
	return uint64(max(sessions, 0)) + filesMargin
}
