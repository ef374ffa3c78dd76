"""Every private API of a third-party library that seedbench touches, one module per library."""
