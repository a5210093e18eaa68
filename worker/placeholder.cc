namespace tokenmeter::worker {}
