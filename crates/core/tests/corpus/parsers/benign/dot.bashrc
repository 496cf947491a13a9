# ~/.bashrc additions
HISTCONTROL=ignoreboth
HISTSIZE=10000
HISTFILESIZE=20000
shopt -s histappend
shopt -s checkwinsize
shopt -s globstar
export EDITOR=vim
export VISUAL=vim
export PAGER=less
export LANG=en_US.UTF-8
PS1='\u@\h:\w\$ '
alias ls='ls --color=auto'
alias ll='ls -alF'
alias la='ls -A'
alias grep='grep --color=auto'
alias rm='rm -i'
alias ..='cd ..'
set -o vi
[ -z "$PS1" ] && return
