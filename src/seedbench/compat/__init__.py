"""Every private or internal API of another library that seedbench touches, one module per library."""
