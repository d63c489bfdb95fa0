//! `ringside-loadgen ctxsw`: what a context switch costs on this machine.
