namespace tokenmeter::kernels {}
