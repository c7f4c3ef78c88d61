//! Lowering: checked program -> tensor IR.
