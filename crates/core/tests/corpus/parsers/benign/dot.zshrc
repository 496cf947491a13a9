HISTSIZE=5000
SAVEHIST=5000
setopt AUTO_CD HIST_IGNORE_DUPS SHARE_HISTORY
setopt interactive_comments
unsetopt beep
bindkey -e
bindkey '^R' history-incremental-search-backward
PROMPT='%n@%m %~ %# '
alias gs='git status'
alias gd='git diff'
