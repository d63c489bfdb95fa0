//! servers: the server designs ringside compares.
