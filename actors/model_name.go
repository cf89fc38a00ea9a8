package actors

// Model returns the chat model provider the node asks (ChatOptions.Model),
// for the operator endpoints that report on it.
func (n *Node) Model() Model { return n.opts.Chat.Model }
