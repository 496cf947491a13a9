# ~/.profile: executed by the login shell
export LANG=en_US.UTF-8
export LC_ALL=en_US.UTF-8
export EDITOR=vim
export VISUAL=vim
export PAGER=less
export LESS=-R
export HISTSIZE=10000
umask 022
