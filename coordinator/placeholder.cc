namespace tokenmeter::coordinator {}
