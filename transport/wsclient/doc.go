// Package wsclient is a small synchronous client for the chat protocol,
// built on gws. The interactive client, the load tool and the tests use it.
//
// A Client has one reader goroutine (gws's read loop), which Close or the
// server's close ends; frames are handed over through a bounded channel.
package wsclient
