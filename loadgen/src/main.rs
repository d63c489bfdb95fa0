//! ringside-loadgen: drive a ringside server and measure it.

fn main() {}
