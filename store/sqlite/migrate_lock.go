package sqlite

import "strings"

// lockSuffix names the file migrators lock, beside the database.
const lockSuffix = ".migrate-lock"

// lockPath is the file migrators of the database at path lock, or "" for
// an in-memory database, which no other store can reach.
func lockPath(path string) string {
	if isMemory(path) {
		return ""
	}
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		rest, _, _ = strings.Cut(rest, "?")
		if auth, ok := strings.CutPrefix(rest, "//"); ok {
			_, p, _ := strings.Cut(auth, "/") // file://host/path: the host is local
			rest = "/" + p
		}
		path = rest
	}
	if path == "" {
		return ""
	}
	return path + lockSuffix
}
