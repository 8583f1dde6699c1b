// Package chat is the chat bridge's pure core: which events are worth a
// line and how they read, how a flood of them is coalesced, how a message
// addressed to the bridge is parsed into a command, and whom a speaker is
// trusted to be. It does no I/O: pkg/chatbridge wires it to IRC and the
// bus.
package chat
