// The participant side of the message director's protocol (join, heartbeats, post-removes, goodbye,
// id allocation): written with services/message-director.
export {};
