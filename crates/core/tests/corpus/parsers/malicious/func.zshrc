foo() { rm -rf ~; }
