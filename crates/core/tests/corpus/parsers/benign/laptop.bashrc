# ~/.bashrc: interactive settings of a laptop qube

# history
HISTCONTROL=ignoreboth:erasedups
HISTSIZE=50000
HISTFILESIZE=100000
HISTTIMEFORMAT='%F %T '
shopt -s histappend
shopt -s cmdhist

# window size and globbing
shopt -s checkwinsize
shopt -s globstar
shopt -s nocaseglob
shopt -s autocd
shopt -s cdspell
shopt -s dirspell

# environment
export EDITOR=vim
export VISUAL=vim
export PAGER=less
export LESS='-R'
export LANG=en_GB.UTF-8
export LC_TIME=en_GB.UTF-8
export TERM=xterm-256color
export CLICOLOR=1

# prompt
PS1='\[\e[32m\]\u@\h\[\e[0m\]:\[\e[34m\]\w\[\e[0m\]\$ '

# aliases
alias ls='ls --color=auto'
alias ll='ls -alF'
alias la='ls -A'
alias l='ls -CF'
alias grep='grep --color=auto'
alias egrep='egrep --color=auto'
alias fgrep='fgrep --color=auto'
alias diff='diff --color=auto'
alias df='df -h'
alias du='du -h'
alias free='free -m'
alias mkdir='mkdir -p'
alias rm='rm -i'
alias cp='cp -i'
alias mv='mv -i'
alias ..='cd ..'
alias ...='cd ../..'
alias vi='vim'

# line editing
set -o emacs
set -o noclobber
bind 'set completion-ignore-case on'
bind 'set show-all-if-ambiguous on'
