//! Text form of the IR.
