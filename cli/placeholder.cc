namespace tokenmeter::cli {}
