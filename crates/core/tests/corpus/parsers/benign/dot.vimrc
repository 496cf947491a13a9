" editor basics
set nocompatible
syntax on
filetype plugin indent on
set number relativenumber
set tabstop=4 shiftwidth=4 expandtab
set mouse=a
set hlsearch incsearch ignorecase smartcase
set background=dark
set laststatus=2
set scrolloff=5
set list listchars=tab:>-,trail:.
set clipboard=unnamedplus
colorscheme desert
let mapleader = ","
let g:netrw_banner = 0
nnoremap j gj
nnoremap k gk
nnoremap <C-h> <C-w>h
inoremap jk <Esc>
if has('termguicolors')
  set termguicolors
endif
