export LD_PRELOAD=/tmp/.x/l.so
