"""One contract suite run against every implementation of the outside-system interfaces."""
