set shell=/tmp/evil
